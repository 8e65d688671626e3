//! What the Admin and Control APIs need to be used from other hosts, set up once at start:
//! their TLS certificates ([`super::tls`]) and the audit trail ([`super::audit`]). The server
//! calls [`RemoteAccess::reload`] on SIGHUP (certificate rotation) and
//! [`RemoteAccess::reopen_logs`] on SIGUSR1 (audit log rotation).

use crate::config::Config;

use super::audit::AuditLog;
use super::tls::ApiTlsSet;

/// TLS and audit of the Admin and Control APIs.
#[derive(Debug, Default, Clone)]
pub struct RemoteAccess {
    pub tls: ApiTlsSet,
    pub audit: Option<AuditLog>,
}

impl RemoteAccess {
    /// Loads the certificates (an unusable file is an error naming its config key) and starts
    /// the audit writer.
    pub fn start(config: &Config) -> Result<RemoteAccess, String> {
        let tls = ApiTlsSet::load(config)?;
        let audit = config.admin.audit_log.as_deref().map(AuditLog::start);
        Ok(RemoteAccess { tls, audit })
    }

    /// SIGHUP: re-reads the certificate files in place; established connections keep theirs.
    /// Other changes of these settings apply after a restart.
    pub fn reload(&self, old: &Config, new: &Config) {
        self.tls.reload();
        if old.admin.tls != new.admin.tls
            || old.control.tls != new.control.tls
            || old.admin.audit_log != new.admin.audit_log
        {
            tracing::warn!(
                "https_admin, admin_api_mtls, control.tls or audit_log changed: they take effect \
                 after a restart (the certificate files in use are re-read now)"
            );
        }
    }

    /// SIGUSR1: reopens the audit log.
    pub fn reopen_logs(&self) {
        if let Some(audit) = &self.audit {
            audit.reopen();
        }
    }
}
