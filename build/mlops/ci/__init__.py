"""The CI build chain: discovery, contract, fingerprints, images, push, specs, compile."""
