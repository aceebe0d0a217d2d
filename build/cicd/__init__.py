"""CI/CD tooling for the monorepo: contract checks, image builds, pushes, spec rewrites and
pipeline compilation. Lives under build/ but is imported as `cicd` (a top-level package
named `build` would shadow PyPA's `build`)."""
