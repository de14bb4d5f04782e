"""The shared kernel: what every stage agrees on (errors, and soon events, config, definitions,
snapshot types, the metric catalogue). It imports none of the stages."""
