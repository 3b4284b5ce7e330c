//! TLS for the local broker's `SSL` listener: a throwaway CA, a certificate for the
//! broker's address and one client certificate, made once per state directory.
//!
//! In production the services reach Kafka through Strimzi's `tls` listener, each
//! with its KafkaUser's certificate (`[kafka.tls]`). The local broker offers the same
//! kind of listener — mutual TLS, client certificates required — so that path is
//! tested against a real broker, not assumed.

use std::path::{Path, PathBuf};

use cloudcord_runtime::kafka::KafkaTls;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

use super::error::InfraError;

const COMPONENT: &str = "kafka";

/// How far above a node's plaintext port its TLS listener is.
pub const TLS_PORT_OFFSET: u16 = 100;

/// The files under `<state>/kafka/tls`.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    dir: PathBuf,
}

impl TlsFiles {
    /// The files of the cluster whose data is in `kafka_dir`.
    pub fn in_dir(kafka_dir: &Path) -> Self {
        Self {
            dir: kafka_dir.join("tls"),
        }
    }

    /// The CA certificate (the brokers' truststore, the clients' `ca_path`).
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The brokers' keystore: their key (PKCS#8) and certificate, one PEM file.
    pub fn broker_keystore(&self) -> PathBuf {
        self.dir.join("broker.pem")
    }

    /// What a client needs to connect, as `[kafka.tls]`.
    pub fn client(&self) -> KafkaTls {
        KafkaTls {
            ca_path: self.ca(),
            certificate_path: self.dir.join("client.pem"),
            key_path: self.dir.join("client.key"),
        }
    }

    /// Makes the CA and the certificates, for a broker at `host`, unless they exist.
    pub fn ensure(&self, host: &str) -> Result<(), InfraError> {
        if self.client().key_path.is_file() {
            return Ok(());
        }
        let step = "making the TLS listener's certificates";
        let error = |e: rcgen::Error| InfraError::new(COMPONENT, step, e);
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(error)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "CloudCord local Kafka CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(error)?)
            .map_err(error)?;
        let signed = |name: &str, sans: Vec<String>| {
            let key = KeyPair::generate()?;
            let mut params = CertificateParams::new(sans)?;
            params.distinguished_name.push(DnType::CommonName, name);
            let certificate = params.signed_by(&key, &ca)?;
            Ok::<_, rcgen::Error>((certificate.pem(), key.serialize_pem()))
        };
        let (broker, broker_key) = signed("kafka", vec![host.to_owned()]).map_err(error)?;
        let (client, client_key) = signed("cloudcord", Vec::new()).map_err(error)?;
        let client_files = self.client();
        let io = |e| InfraError::new(COMPONENT, step, e);
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        std::fs::write(self.ca(), ca.pem()).map_err(io)?;
        std::fs::write(self.broker_keystore(), format!("{broker_key}{broker}")).map_err(io)?;
        std::fs::write(&client_files.certificate_path, client).map_err(io)?;
        // Written last: its presence means the set is complete.
        std::fs::write(&client_files.key_path, client_key).map_err(io)
    }
}
