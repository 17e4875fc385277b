"""Fake AI-provider and webhook servers on 127.0.0.1 speaking each wire protocol exactly."""
