"""Input/output channels. All follow Rasa's InputChannel/OutputChannel contract."""
