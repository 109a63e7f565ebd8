"""Learning rates per step from torch.optim.lr_scheduler, the oracle for schedule_test.cpp.

usage: lr_reference.py onecycle MAX_LR TOTAL PCT_START DIV FINAL_DIV
       lr_reference.py cosine LR T_MAX ETA_MIN STEPS
Prints one rate per line, the rate in force at each step (before scheduler.step()).
"""
import sys

import torch


def rates(optimizer, scheduler, steps):
    out = []
    for _ in range(steps):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return out


def main():
    kind = sys.argv[1]
    param = torch.nn.Parameter(torch.zeros(1))
    if kind == "onecycle":
        max_lr, total, pct, div, final = (float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]),
                                          float(sys.argv[5]), float(sys.argv[6]))
        opt = torch.optim.SGD([param], lr=max_lr)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=max_lr, total_steps=total, pct_start=pct, div_factor=div,
            final_div_factor=final, anneal_strategy="cos", cycle_momentum=False)
        values = rates(opt, sched, total)
    elif kind == "cosine":
        lr, t_max, eta_min, steps = (float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]),
                                     int(sys.argv[5]))
        opt = torch.optim.SGD([param], lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=t_max, eta_min=eta_min)
        values = rates(opt, sched, steps)
    else:
        raise SystemExit("unknown kind " + kind)
    for v in values:
        print(repr(v))


if __name__ == "__main__":
    main()
