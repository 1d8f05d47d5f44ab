"""Touch points, their criteria (versioned rubrics), sites, and the evaluations made of them."""
