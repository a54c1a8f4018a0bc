"""Chargeback: who spent what, per month, frozen at month close.

* ``selectors``: reads (reports per cost center / subscription / deployment / model / day,
  time series, month-close state), all over half-open UTC windows ``[begin, end)``: whole days
  from the daily rollup ``UsageDaily``, hours and partial days from the hourly rollup
  ``UsageHourly``; cost centers are resolved at read time.
* ``services``: month close and reopen.
* ``exports``: CSV and XLSX of a report, with the same numbers as the page.
"""
