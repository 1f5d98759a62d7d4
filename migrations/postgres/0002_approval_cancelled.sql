-- Approval state `cancelled`: the job awaiting approval was cancelled (`approval.cancelled`).
-- Only the state's CHECK changes; its name stays `approvals_state_check`.
ALTER TABLE approvals DROP CONSTRAINT approvals_state_check;
ALTER TABLE approvals ADD CONSTRAINT approvals_state_check
    CHECK (state IN ('pending', 'approved', 'rejected', 'expired', 'cancelled'));
