"""The web product: `ravao web` (dashboards.web) and Grafana provisioning (dashboards/grafana)."""
