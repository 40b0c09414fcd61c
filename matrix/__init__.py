"""The result model: run records, their schemas, the matrix and the report.

matrix never imports conformance: it only reads records, so the report can be rebuilt
from run files on any machine.
"""
