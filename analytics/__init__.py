"""Quality inspection and analytics: QA scores, reports and charts."""
