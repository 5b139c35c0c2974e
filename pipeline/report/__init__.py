"""What a run tells its reader: corpus stats, per-dataset accounting, the provenance block and the HTML report (svg charts, contact sheets, the datasets section)."""
