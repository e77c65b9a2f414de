"""The alerting job: cases to venue and cluster alerts, contact lists, and notifications."""
