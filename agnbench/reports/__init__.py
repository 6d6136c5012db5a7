"""Tables, figures and the paper-ready report (``agnbench report`` is :func:`build_report`)."""

from agnbench._exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "agnbench.reports.report": ["build_report"],
    "agnbench.reports.report_inputs": ["load_report_inputs"],
    "agnbench.reports.tables": ["headline_table", "pairwise_table", "seeds_table", "headline_latex",
                                "pairwise_latex"],
    "agnbench.reports.style": ["journal_style"],
})
