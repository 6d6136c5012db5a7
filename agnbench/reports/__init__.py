"""Tables, figures and the paper-ready report."""
