"""Deploys the pipeline: the stack is declared once, as data (`stack.declare`), and deploying,
tearing down, printing outputs and reporting status all read that one declaration."""
