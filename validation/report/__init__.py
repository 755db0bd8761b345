"""Reports: the pipeline that runs every analysis (:mod:`validation.report.pipeline`), the
HTML report (:mod:`validation.report.html`), the paper reproduction
(:mod:`validation.report.paper`) and the demo (:mod:`validation.report.demo`)."""
