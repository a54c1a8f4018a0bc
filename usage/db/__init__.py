"""Database helpers below the models' users: the ``field__any`` lookup (``lookups``), stored rows
updated from arrays (``bulk``), new rows by binary COPY (``copy``), the monthly partitions of the
request table (``partitions``), the JSON fast paths (``json``) and the requests the refresh steps
share (``loaded``). Import each module by its full path.
"""
