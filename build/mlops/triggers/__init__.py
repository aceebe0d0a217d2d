"""What starts a training run: new data, drift, and where the run starts."""
