"""Designs: what the business intends (designed journeys, personas rules) and the YAML reader
behind every design input. Below the scope and the analyses, beside the canonical model."""
