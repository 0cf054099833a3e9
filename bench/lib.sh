# Shared by the ingest benchmarks (sourced, not run). Needs BASE, TOKEN and PROJECT.

# Events stored (queryable) so far, over a range that holds every generated event:
# the sum of a monthly total series, which answers in tens of milliseconds however
# fresh the events are. (Until session 20 this read the overview, which also works
# out sessions: over ~3M events of the current hour, not rolled up yet, it took
# ~1 s, and each poll's own duration ended up in the measured tail.)
stored() {
  curl -sf -H "Authorization: Bearer $TOKEN" \
    "$BASE/api/v1/projects/$PROJECT/timeseries?interval=month&math=total&from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z" \
    | python3 -c "import json,sys;print(sum(b['value'] for b in json.load(sys.stdin)['results']))"
}
