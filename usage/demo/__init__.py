"""The demo: generated log rows (``data``), the site set up around them (``site``) and the local
Log Analytics emulator that serves them (``emulator``; ``python -m usage.demo.emulator``).
"""
