"""Knowledge bases: documents, FAQs, ingestion and retrieval."""
