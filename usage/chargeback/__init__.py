"""Chargeback: who spent what, per month, frozen at month close.

* ``selectors``: reads (reports per cost center / subscription / deployment / model / day,
  time series, month-close state), all over half-open UTC windows ``[begin, end)`` of the hourly
  rollup ``UsageHourly``; cost centers are resolved at read time.
* ``services``: month close and reopen.
* ``exports``: CSV and XLSX of a report, with the same numbers as the page.
"""
