"""A local stack for scripts outside pytest (stack.py), and the real servers it is made of,
which the test fixtures start too (servers.py)."""
