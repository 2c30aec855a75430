// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! UET jobs: realization of `/dev/infiniband/job` jobs for UET
//! (`struct rdma_job_uet` in `include/uapi/rdma/rdma_job.h`).

use kernel::{
    prelude::*,
    rdma::job::{
        IdRequest,
        JobProtocol,
        Protocol,
        PROPS_LEN, //
    },
    uapi,
};

/// Largest JobID (24 bits; 0 is invalid).
const MAX_JOB_ID: u32 = uapi::RDMA_JOB_UET_MAX_JOB_ID;
/// PIDonFEP values are 12 bits.
const PID_ON_FEP_SPACE: u32 = uapi::RDMA_JOB_UET_MAX_PID_ON_FEP + 1;
/// Bytes of `struct rdma_job_uet`; the rest of the property block is
/// reserved.
const UET_PROPS_LEN: usize = core::mem::size_of::<uapi::rdma_job_uet>();
const _: () = assert!(UET_PROPS_LEN == 24);

/// The UET properties of a job.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct UetJob {
    pub(crate) job_id: u32,
    pub(crate) flags: u32,
    pub(crate) pid_on_fep_base: u16,
    pub(crate) max_endpoints: u16,
    pub(crate) tc: u8,
}

impl UetJob {
    /// Reads the property block (host byte order, as in the uapi header).
    pub(crate) fn parse(p: &[u8; PROPS_LEN]) -> Self {
        Self {
            job_id: u32::from_ne_bytes([p[0], p[1], p[2], p[3]]),
            flags: u32::from_ne_bytes([p[4], p[5], p[6], p[7]]),
            pid_on_fep_base: u16::from_ne_bytes([p[8], p[9]]),
            max_endpoints: u16::from_ne_bytes([p[10], p[11]]),
            tc: p[12],
        }
    }

    /// Validates a REALIZE request.
    pub(crate) fn validate(p: &[u8; PROPS_LEN]) -> Result<IdRequest> {
        let j = Self::parse(p);
        if p[13..].iter().any(|&b| b != 0) {
            return Err(EINVAL);
        }
        let alloc = uapi::rdma_job_uet_flags_RDMA_JOB_UET_F_ALLOC_JOB_ID;
        if j.flags & !alloc != 0 {
            return Err(EINVAL);
        }
        if j.max_endpoints == 0
            || u32::from(j.pid_on_fep_base) + u32::from(j.max_endpoints) > PID_ON_FEP_SPACE
        {
            return Err(EINVAL);
        }
        if u32::from(j.tc) > uapi::RDMA_JOB_UET_MAX_TC {
            return Err(EINVAL);
        }
        if j.flags & alloc != 0 {
            if j.job_id != 0 {
                return Err(EINVAL);
            }
            return Ok(IdRequest::Alloc {
                min: 1,
                max: MAX_JOB_ID,
            });
        }
        if j.job_id == 0 || j.job_id > MAX_JOB_ID {
            return Err(EINVAL);
        }
        Ok(IdRequest::Fixed(j.job_id))
    }
}

/// The UET job protocol.
pub(crate) struct UetJobs;

impl JobProtocol for UetJobs {
    const PROTOCOL: Protocol = Protocol::Uet;

    fn realize(props: &[u8; PROPS_LEN]) -> Result<IdRequest> {
        UetJob::validate(props)
    }

    fn set_job_id(props: &mut [u8; PROPS_LEN], id: u32) {
        props[0..4].copy_from_slice(&id.to_ne_bytes());
    }
}

#[kunit_tests(uet_soft_job)]
mod tests {
    use super::*;

    fn props(job_id: u32, flags: u32, base: u16, max: u16, tc: u8) -> [u8; PROPS_LEN] {
        let mut p = [0u8; PROPS_LEN];
        p[0..4].copy_from_slice(&job_id.to_ne_bytes());
        p[4..8].copy_from_slice(&flags.to_ne_bytes());
        p[8..10].copy_from_slice(&base.to_ne_bytes());
        p[10..12].copy_from_slice(&max.to_ne_bytes());
        p[12] = tc;
        p
    }

    #[test]
    fn valid_requests() {
        assert_eq!(
            UetJob::validate(&props(77, 0, 0, 256, 0)),
            Ok(IdRequest::Fixed(77))
        );
        assert_eq!(
            UetJob::validate(&props(0xff_ffff, 0, 4095, 1, 15)),
            Ok(IdRequest::Fixed(0xff_ffff))
        );
        assert_eq!(
            UetJob::validate(&props(0, 1, 0, 4096, 3)),
            Ok(IdRequest::Alloc {
                min: 1,
                max: 0xff_ffff
            })
        );
    }

    #[test]
    fn invalid_requests() {
        // JobID 0 or wider than 24 bits
        assert_eq!(UetJob::validate(&props(0, 0, 0, 1, 0)), Err(EINVAL));
        assert_eq!(UetJob::validate(&props(1 << 24, 0, 0, 1, 0)), Err(EINVAL));
        // ALLOC with an id, unknown flags
        assert_eq!(UetJob::validate(&props(5, 1, 0, 1, 0)), Err(EINVAL));
        assert_eq!(UetJob::validate(&props(5, 2, 0, 1, 0)), Err(EINVAL));
        // PIDonFEP range empty or beyond 12 bits
        assert_eq!(UetJob::validate(&props(5, 0, 0, 0, 0)), Err(EINVAL));
        assert_eq!(UetJob::validate(&props(5, 0, 4095, 2, 0)), Err(EINVAL));
        // traffic class
        assert_eq!(UetJob::validate(&props(5, 0, 0, 1, 16)), Err(EINVAL));
        // reserved bytes, inside and after struct rdma_job_uet
        let mut p = props(5, 0, 0, 1, 0);
        p[13] = 1;
        assert_eq!(UetJob::validate(&p), Err(EINVAL));
        let mut p = props(5, 0, 0, 1, 0);
        p[PROPS_LEN - 1] = 1;
        assert_eq!(UetJob::validate(&p), Err(EINVAL));
    }

    #[test]
    fn allocated_id_is_written_back() {
        let mut p = props(0, 1, 0, 1, 0);
        UetJobs::set_job_id(&mut p, 0x12_3456);
        assert_eq!(UetJob::parse(&p).job_id, 0x12_3456);
    }
}
