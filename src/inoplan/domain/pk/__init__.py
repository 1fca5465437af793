"""Population pharmacokinetics of inotuzumab ozogamicin (pure numerics; NumPy allowed here).

``model`` (stdlib only) holds the models as typed values and their covariate equations;
``simulate`` integrates concentration-time for many subjects at once; ``population`` draws
inter-individual variability from an injected ``numpy.random.Generator``. Importing this package
does not import NumPy; the numeric modules do.
"""
