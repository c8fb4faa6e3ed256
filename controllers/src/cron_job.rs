//! (in progress) The cron_job controller.
