//! Allocatable capacity of common node types, for the node-pool capacity check.
//!
//! Consumes: a cloud and a machine name (`t3.medium`, `e2-standard-2`, `Standard_D2s_v3`).
//! Produces: what the kubelet offers pods on one node: CPU (cores), memory (bytes), pods.
//!
//! Decisions: the table holds each type's nominal vCPUs and memory (the providers' published
//! sizes) and the pod limit; allocatable is derived with each provider's documented
//! reservation formula, so the numbers can be checked rather than trusted. They are estimates
//! (the kernel keeps some memory, DaemonSets and system pods take their share, images and
//! AMIs differ), which is why a shortfall is a warning, never an error.
//! - CPU reserved, EKS and GKE: 6% of the first core, 1% of the second, 0.5% of cores 3–4,
//!   0.25% of the rest. AKS: 60m for 1 core, 100m for 2, 140m for 4, 180m for 8, 260m for 16,
//!   420m for 32, 740m for 64.
//! - Memory reserved, EKS: 255 MiB + 11 MiB per pod the node can hold (the VPC CNI's ENI
//!   limit, in the table). GKE: 25% of the first 4 GiB, 20% of the next 4, 10% of the next 8,
//!   6% of the next 112, 2% of the rest. AKS (1.29+): 20 MB per pod + 50 MB, at most 25% of
//!   the memory, with 110 pods per node (kubenet and Azure CNI Overlay defaults).
//!   Every provider adds a 100 MiB hard-eviction threshold.
//! - Pods per node: EKS the ENI limit without prefix delegation; GKE and AKS 110.
//! - `e2-medium` is a shared-core type: GKE counts it as one core (allocatable 940m).
//! - Names compare case-insensitively (Azure sizes are written both ways).

use crate::model::CloudKind;

const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = 1024.0 * MIB;
const MB: f64 = 1000.0 * 1000.0;

/// What pods can use on one node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Allocatable {
    /// CPU, cores.
    pub cpu: f64,
    /// Memory, bytes.
    pub memory: f64,
    /// Pods.
    pub pods: u32,
}

/// (name, vCPUs, memory GiB, max pods; 0 = the provider's default).
type Row = (&'static str, f64, f64, u32);

const AWS: &[Row] = &[
    ("t3.small", 2.0, 2.0, 11),
    ("t3.medium", 2.0, 4.0, 17),
    ("t3.large", 2.0, 8.0, 35),
    ("t3.xlarge", 4.0, 16.0, 58),
    ("t3.2xlarge", 8.0, 32.0, 58),
    ("t3a.medium", 2.0, 4.0, 17),
    ("t3a.large", 2.0, 8.0, 35),
    ("m5.large", 2.0, 8.0, 29),
    ("m5.xlarge", 4.0, 16.0, 58),
    ("m5.2xlarge", 8.0, 32.0, 58),
    ("m5.4xlarge", 16.0, 64.0, 234),
    ("m6i.large", 2.0, 8.0, 29),
    ("m6i.xlarge", 4.0, 16.0, 58),
    ("m6g.large", 2.0, 8.0, 29),
    ("m7i.large", 2.0, 8.0, 29),
    ("c5.large", 2.0, 4.0, 29),
    ("c5.xlarge", 4.0, 8.0, 58),
    ("c5.2xlarge", 8.0, 16.0, 58),
    ("r5.large", 2.0, 16.0, 29),
    ("r5.xlarge", 4.0, 32.0, 58),
];

const GCP: &[Row] = &[
    ("e2-medium", 1.0, 4.0, 0),
    ("e2-standard-2", 2.0, 8.0, 0),
    ("e2-standard-4", 4.0, 16.0, 0),
    ("e2-standard-8", 8.0, 32.0, 0),
    ("e2-standard-16", 16.0, 64.0, 0),
    ("e2-highmem-2", 2.0, 16.0, 0),
    ("n1-standard-1", 1.0, 3.75, 0),
    ("n1-standard-2", 2.0, 7.5, 0),
    ("n1-standard-4", 4.0, 15.0, 0),
    ("n2-standard-2", 2.0, 8.0, 0),
    ("n2-standard-4", 4.0, 16.0, 0),
    ("n2-standard-8", 8.0, 32.0, 0),
    ("n2d-standard-2", 2.0, 8.0, 0),
    ("c2-standard-4", 4.0, 16.0, 0),
];

const AZURE: &[Row] = &[
    ("Standard_B2s", 2.0, 4.0, 0),
    ("Standard_B2ms", 2.0, 8.0, 0),
    ("Standard_B4ms", 4.0, 16.0, 0),
    ("Standard_DS2_v2", 2.0, 7.0, 0),
    ("Standard_D2s_v3", 2.0, 8.0, 0),
    ("Standard_D4s_v3", 4.0, 16.0, 0),
    ("Standard_D8s_v3", 8.0, 32.0, 0),
    ("Standard_D2s_v5", 2.0, 8.0, 0),
    ("Standard_D4s_v5", 4.0, 16.0, 0),
    ("Standard_D8s_v5", 8.0, 32.0, 0),
    ("Standard_D2as_v5", 2.0, 8.0, 0),
    ("Standard_D4as_v5", 4.0, 16.0, 0),
    ("Standard_E2s_v3", 2.0, 16.0, 0),
    ("Standard_E4s_v3", 4.0, 32.0, 0),
    ("Standard_F4s_v2", 4.0, 8.0, 0),
];

/// Pods per node on GKE and AKS.
const DEFAULT_PODS: u32 = 110;
/// The kubelet's hard-eviction threshold.
const EVICTION: f64 = 100.0 * MIB;

/// The allocatable capacity of one node of `machine` on `cloud`, `None` when the type is not
/// in the table.
pub fn allocatable(cloud: CloudKind, machine: &str) -> Option<Allocatable> {
    let table = match cloud {
        CloudKind::Aws => AWS,
        CloudKind::Gcp => GCP,
        CloudKind::Azure => AZURE,
    };
    let &(_, cpus, memory_gib, pods) = table
        .iter()
        .find(|(name, ..)| name.eq_ignore_ascii_case(machine))?;
    let pods = if pods == 0 { DEFAULT_PODS } else { pods };
    let memory = memory_gib * GIB;
    let (cpu_reserved, memory_reserved) = match cloud {
        CloudKind::Aws => (tiered_cpu(cpus), 255.0 * MIB + 11.0 * MIB * f64::from(pods)),
        CloudKind::Gcp => (tiered_cpu(cpus), gke_memory(memory)),
        CloudKind::Azure => (
            aks_cpu(cpus),
            (20.0 * MB * f64::from(pods) + 50.0 * MB).min(0.25 * memory),
        ),
    };
    Some(Allocatable {
        cpu: cpus - cpu_reserved,
        memory: memory - memory_reserved - EVICTION,
        pods,
    })
}

/// Every type the table knows on `cloud`, for help texts.
pub fn known(cloud: CloudKind) -> Vec<&'static str> {
    let table = match cloud {
        CloudKind::Aws => AWS,
        CloudKind::Gcp => GCP,
        CloudKind::Azure => AZURE,
    };
    table.iter().map(|(name, ..)| *name).collect()
}

/// EKS/GKE CPU reservation, cores.
fn tiered_cpu(cpus: f64) -> f64 {
    let tiers = [
        (1.0, 0.06),
        (1.0, 0.01),
        (2.0, 0.005),
        (f64::INFINITY, 0.0025),
    ];
    let mut left = cpus;
    let mut reserved = 0.0;
    for (size, rate) in tiers {
        let take = left.min(size);
        reserved += take * rate;
        left -= take;
        if left <= 0.0 {
            break;
        }
    }
    reserved
}

/// AKS CPU reservation, cores.
fn aks_cpu(cpus: f64) -> f64 {
    let table = [
        (1.0, 0.06),
        (2.0, 0.1),
        (4.0, 0.14),
        (8.0, 0.18),
        (16.0, 0.26),
        (32.0, 0.42),
    ];
    table
        .iter()
        .find(|(cores, _)| cpus <= *cores)
        .map_or(0.74, |(_, reserved)| *reserved)
}

/// GKE memory reservation, bytes.
fn gke_memory(memory: f64) -> f64 {
    let tiers = [
        (4.0 * GIB, 0.25),
        (4.0 * GIB, 0.20),
        (8.0 * GIB, 0.10),
        (112.0 * GIB, 0.06),
        (f64::INFINITY, 0.02),
    ];
    let mut left = memory;
    let mut reserved = 0.0;
    for (size, rate) in tiers {
        let take = left.min(size);
        reserved += take * rate;
        left -= take;
        if left <= 0.0 {
            break;
        }
    }
    reserved
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn eks_t3_medium_matches_the_published_allocatable() {
        let node = allocatable(CloudKind::Aws, "t3.medium").unwrap();
        assert!(close(node.cpu, 1.93), "{}", node.cpu);
        // 4096 - (255 + 11 × 17) - 100 = 3554 MiB
        assert!(close(node.memory, 3554.0 * MIB), "{}", node.memory / MIB);
        assert_eq!(node.pods, 17);
    }

    #[test]
    fn gke_e2_standard_2() {
        let node = allocatable(CloudKind::Gcp, "e2-standard-2").unwrap();
        assert!(close(node.cpu, 1.93));
        // 8 GiB - (1 GiB + 0.8 GiB) - 100 MiB
        assert!(close(node.memory, 8.0 * GIB - 1.8 * GIB - 100.0 * MIB));
        assert!(close(
            allocatable(CloudKind::Gcp, "e2-medium").unwrap().cpu,
            0.94
        ));
    }

    #[test]
    fn aks_d2s_v3_and_case() {
        let node = allocatable(CloudKind::Azure, "standard_d2s_v3").unwrap();
        assert!(close(node.cpu, 1.9));
        // min(20 MB × 110 + 50 MB, 2 GiB) = 2 GiB
        assert!(close(node.memory, 8.0 * GIB - 2.0 * GIB - 100.0 * MIB));
        assert!(allocatable(CloudKind::Aws, "m5.large").is_some());
        assert!(allocatable(CloudKind::Aws, "e2-standard-2").is_none());
        assert!(allocatable(CloudKind::Aws, "x9.huge").is_none());
    }
}
