"""The pure core: plain data in, plain data out.

Nothing here reads the clock, the environment, files, the network or a database, and nothing
imports a third-party package (the PK module excepted, which may use NumPy).
"""
