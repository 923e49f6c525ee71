"""Grid carbon intensity: providers (CSV, Electricity Maps, GB Carbon Intensity), a cache that
degrades to the last known values, and forecasters for zones without a published forecast.

Nothing is imported here: ``hyperion.sim`` reads CSVs through :mod:`hyperion.carbon.csvfile`
and must not pay for the HTTP clients. See ``docs/carbon.md``.
"""
