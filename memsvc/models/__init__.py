"""The model tier. Heavy libraries (torch, sentence-transformers) are imported lazily."""
