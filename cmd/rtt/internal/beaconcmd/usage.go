package beaconcmd

import (
	"flag"
	"fmt"
	"io"
)

const usageHead = `Usage: rtt beacon --site SITE --event EVENT [flags]

Sends one beacon to rtt's API (POST /beacon) from a CI/CD job or a shell
script, without an SDK, and prints its event id, followed by "duplicate" when
the server already held that id. A beacon when a deployment starts and one
when it finishes let rtt relate what drifts afterwards to the deployment.

The beacon is built from the flags, or taken whole from --json (the flags
given too override its fields). Without --ts it is stamped now. Without
--event-id its id is derived from its content before the first attempt, so
the client's retries never store it twice; give --event-id (or a fixed --ts)
to make a re-run of the whole step idempotent as well.

Exit codes:
  0  stored (or already stored: "duplicate")
  1  refused by the server: 400 prints each violation as "field: rule";
     401 wants --token; 404 means --url-base is not the API's base URL
  2  usage error: bad flags, or an unreadable --json, --topology-file or
     --flows-file; nothing was sent
  3  not stored: the server was unreachable or unavailable on every attempt
     within --timeout; run the same command again later

Environment: every flag can also be set as %[1]s_<FLAG> (upper case,
dashes as underscores: --site is %[1]s_SITE); --url-base and --token
default to $RTT_URL and $RTT_TOKEN, as in the SDKs.

Examples:
  rtt beacon --site datacenter-east --event deployment_start \
    --session deploy-42 --label service=api --label version=1.8.0
  rtt beacon --site datacenter-east --event topology_snapshot \
    --url internal://cluster --topology-file topology.json
  rtt beacon --json heartbeat.json --ts 2026-01-19T15:30:00Z
  jq -n '{site: "lab-1", session: "s1", event: "run_start", ts: (now|todate),
    structure: {url: "internal://sim", title: "Simulation", nav_count: 0,
    main_count: 4, form_count: 0, button_count: 0, dom_nodes: 64}}' |
    rtt beacon --json -

  # GitHub Actions: a beacon around the deployment, the finish one also
  # when the deployment failed
  - name: rtt deployment_start
    run: >-
      rtt beacon --site datacenter-east --event deployment_start
      --session "gh-${{ github.run_id }}" --label "commit=${{ github.sha }}"
      --event-id "gh-${{ github.run_id }}-${{ github.run_attempt }}-start"
    env:
      RTT_URL: ${{ vars.RTT_URL }}
      RTT_TOKEN: ${{ secrets.RTT_TOKEN }}
  - run: ./deploy.sh
  - name: rtt deployment_finish
    if: always()
    run: >-
      rtt beacon --site datacenter-east --event deployment_finish
      --session "gh-${{ github.run_id }}" --label "commit=${{ github.sha }}"
      --label "result=${{ job.status }}"
      --event-id "gh-${{ github.run_id }}-${{ github.run_attempt }}-finish"
    env:
      RTT_URL: ${{ vars.RTT_URL }}
      RTT_TOKEN: ${{ secrets.RTT_TOKEN }}

  # GitLab CI (RTT_URL and RTT_TOKEN as CI/CD variables)
  deploy:
    script:
      - rtt beacon --site datacenter-east --event deployment_start --session "gl-$CI_PIPELINE_ID" --label "commit=$CI_COMMIT_SHORT_SHA"
      - ./deploy.sh
    after_script:
      - rtt beacon --site datacenter-east --event deployment_finish --session "gl-$CI_PIPELINE_ID" --label "commit=$CI_COMMIT_SHORT_SHA" --label "result=$CI_JOB_STATUS"

  # a script under "set -e" that goes on when rtt is down (exit 3) but
  # stops on anything else
  rtt beacon --site lab-1 --event run_start --timeout 5s || [ $? -eq 3 ]

Flags (given as --name or -name):
`

func printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, usageHead, EnvPrefix)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}
