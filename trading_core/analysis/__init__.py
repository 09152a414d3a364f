"""Bias tools: lookahead analysis and recursive (warm-up) analysis of any strategy."""
