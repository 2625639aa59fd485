"""The run report (report.html): figures computed from the run directory and the HTML sections that show them."""
