"""A compiled pipeline run on this machine: kfp.local adapted, tasks side by side."""
