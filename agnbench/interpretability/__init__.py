"""What each track looks at: SHAP for trees, gradient attribution for networks, physics probes."""
