"""The interactive explorer (``agnbench serve``): browse a comparison and classify uploaded files in a local web app.

:mod:`.explore` holds what is shown, as functions of a comparison directory (tables and matplotlib figures, no web
framework); :mod:`.classify` scores one uploaded spectrum or cutout with a trained run; :mod:`.app` lays them out
in a Gradio app (``pip install 'agnbench[app]'``), imported only when the app is built.
"""

from agnbench._exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "agnbench.serve.explore": ["Explorer", "open_explorer", "object_table", "object_probabilities",
                               "spectrum_figure", "cutout_figure", "shap_waterfall", "mistakes"],
    "agnbench.serve.classify": ["Classification", "classify_file"],
    "agnbench.serve.app": ["build_app", "serve"],
})
