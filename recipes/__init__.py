"""kdl's recipes, one file each; shipped in the wheel as ``kdl._recipes``."""
