"""Users, organizations (the tenants), memberships with roles, and the audit log."""
