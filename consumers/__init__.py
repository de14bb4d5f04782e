"""Read stage: decode and validate Kafka records into typed events.

Only this package imports ``kafka``; the modules that do (``reader``, ``dead_letter``,
``publish``, ``admin``) are imported explicitly, so importing the schema or the decoder
never pulls in a Kafka client.
"""
