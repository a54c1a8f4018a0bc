"""Ingestion of APIM gateway logs, APIM LLM logs and Azure OpenAI native logs.

``rows`` parses one row, ``store.rows_store`` stores and joins a batch, ``files`` imports exported
files, ``selectors`` answers questions about what was ingested.
"""
