"""The shared kernel: what every stage agrees on (events, config, errors, definitions,
snapshot types, alert views, business calendars). It imports none of the stages."""
