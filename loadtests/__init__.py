"""Locust load tests for the service, and naive / framework baselines to compare it with."""
