"""Cases, the alerting job (`ravao alerts`) and its notifications."""
