"""The mock survey: a simulated SDSS/Legacy survey written in the real file formats."""
