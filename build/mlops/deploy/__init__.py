"""Compiled pipelines to an environment: bucket upload, KFP or Vertex AI, deploy records."""
