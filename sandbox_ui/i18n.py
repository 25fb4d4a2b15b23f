"""Chinese-first strings of the sandbox, with an English toggle.

``tr(key, lang)`` is pure (tests and the browser test build selectors with it); ``t(key)``
reads the signed-in session's language. Nothing here touches data.
"""

from __future__ import annotations

from typing import Any

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"

STRINGS: dict[str, tuple[str, str]] = {
    # app shell, sign-in
    "app.title": ("数据模型实验室 · 沙箱", "Federated Credit Lab · Sandbox"),
    "app.tagline": (
        "原始数据不出域，可用不可见：这里只显示元数据和汇总结果。",
        "Raw records never leave their owner: this sandbox shows metadata and aggregates only.",
    ),
    "lang.toggle": ("English", "English"),
    "signin.title": ("登录", "Sign in"),
    "signin.username": ("用户名", "Username"),
    "signin.password": ("密码", "Password"),
    "signin.button": ("登录", "Sign in"),
    "signin.failed": ("用户名或密码错误。", "Wrong username or password."),
    "signin.local_note": (
        "本地演示模式（FEDLAB_ENVIRONMENT=local）：未设密码的用户可留空密码登录。",
        "Local demo mode (FEDLAB_ENVIRONMENT=local): users without a password "
        "may sign in with an empty password.",
    ),
    "signout.button": ("退出登录", "Sign out"),
    "signed_in_as": ("当前用户：{user}（{role}，{org}）", "Signed in as {user} ({role}, {org})"),
    "denied": (
        "无权访问此页面：{page} 仅对 {roles} 开放。",
        "No access: {page} is for {roles} only.",
    ),
    "not_signed_in": ("请先登录。", "Please sign in first."),
    "error": ("操作失败：{msg}", "Failed: {msg}"),
    "suppressed": ("<{k}（已抑制）", "<{k} (suppressed)"),
    "k_note": (
        "所有数据相关数字均为至少 {k} 家企业的汇总，不足者已抑制。",
        "Every number about data aggregates at least {k} enterprises; smaller cells are "
        "suppressed.",
    ),
    "none_yet": ("暂无记录。", "Nothing yet."),
    "reason": ("原因", "Reason"),
    "refresh": ("刷新", "Refresh"),
    # roles
    "role.bank_modeler": ("银行建模人员", "bank modeler"),
    "role.data_scientist": ("数据科学家", "data scientist"),
    "role.agency_officer": ("数据源单位专员", "agency officer"),
    "role.platform_staff": ("平台运营人员", "platform staff"),
    "role.admin": ("管理员", "admin"),
    "role.worker": ("运行服务账号", "worker"),
    # pages
    "page.home": ("首页", "Home"),
    "page.indicators": ("指标库", "Indicator library"),
    "page.samples": ("样本库", "Sample library"),
    "page.algorithms": ("算法库", "Algorithm library"),
    "page.experiments": ("实验", "Experiments"),
    "page.models": ("模型库", "Model library"),
    "page.approvals": ("实验审批", "Approvals"),
    "page.consent": ("数据授权同意", "Consent"),
    "page.audit": ("审计日志", "Audit log"),
    # home
    "home.path": (
        "五步完成建模：① 指标库选指标 → ② 样本库确认样本 → ③ 实验页创建并提交 → "
        "④ 平台审批、运行 → ⑤ 模型库查看 ROC/KS。",
        "Five steps to a model: ① pick indicators → ② check your sample → ③ create and "
        "submit an experiment → ④ staff approve, the worker runs it → ⑤ open the model "
        "library for ROC/KS.",
    ),
    "home.counts": (
        "可见：{samples} 个样本集，{experiments} 个实验，{models} 个模型版本。",
        "Visible to you: {samples} sample sets, {experiments} experiments, "
        "{models} model versions.",
    ),
    # indicators
    "ind.search": ("搜索指标（代码、名称、说明）", "Search indicators (code, name, description)"),
    "ind.owner": ("提供方", "Owner"),
    "ind.dimension": ("维度", "Dimension"),
    "ind.all": ("全部", "All"),
    "ind.count": ("共 {n} 个指标", "{n} indicators"),
    "ind.definition": ("指标定义", "Definition"),
    "ind.col.code": ("代码", "Code"),
    "ind.col.name_zh": ("中文名", "Chinese name"),
    "ind.col.name": ("英文名", "English name"),
    "ind.family": ("指标族", "Family"),
    "ind.col.family": ("指标族", "Family"),
    "ind.col.sub_dimension": ("子维度", "Sub-dimension"),
    "ind.col.unit": ("单位", "Unit"),
    "ind.col.pit": ("时点规则", "Point-in-time rule"),
    "ind.col.sources": ("原始记录", "Raw records"),
    "ind.col.sensitivity": ("敏感级别", "Sensitivity"),
    "ind.col.owner": ("提供方", "Owner"),
    "ind.col.dimension": ("维度", "Dimension"),
    "ind.col.dtype": ("类型", "Type"),
    "ind.col.window": ("观察窗口", "Window"),
    "ind.col.consent": ("授权状态", "Consent"),
    "ind.col.description": ("说明", "Description"),
    "consent.own": ("自有", "own"),
    "consent.granted": ("已授权（至 {until}）", "granted (until {until})"),
    "consent.missing": ("未授权", "not granted"),
    "consent.expired": ("已过期", "expired"),
    "consent.revoked": ("已撤销", "revoked"),
    "consent.banks": ("已授权 {n} 家银行", "granted to {n} banks"),
    # samples
    "smp.list": ("本行样本集", "Your bank's sample sets"),
    "smp.create": ("定义样本集", "Define a sample set"),
    "smp.name": ("样本集名称", "Sample set name"),
    "smp.dataset": ("本行数据集", "Your bank's dataset"),
    "smp.label_column": ("标签列", "Label column"),
    "smp.label_definition": ("标签定义", "Label definition"),
    "smp.rule": ("逾期定义（什么算违约）", "Default rule (what counts as default)"),
    "smp.rule.days_past_due": ("逾期天数 ≥ N 天", "Days past due >= N"),
    "smp.rule.status_in": ("状态属于所列代码", "Status is one of the codes"),
    "smp.rule.binary": ("标签列已是 0/1", "Label column is already 0/1"),
    "smp.rule.days": ("逾期天数阈值 N（正整数）", "Days past due threshold N (whole number)"),
    "smp.rule.codes": ("违约状态代码（逗号分隔）", "Default status codes (comma-separated)"),
    "smp.col.rule": ("逾期定义", "Default rule"),
    "smp.id_list": ("ID 清单位置（在本行）", "ID list location (at your bank)"),
    "smp.start": ("观察期开始", "Observation start"),
    "smp.end": ("观察期结束", "Observation end"),
    "smp.button": ("创建样本集", "Create sample set"),
    "smp.created": ("已创建样本集 {name}。", "Created sample set {name}."),
    "smp.col.name": ("样本集", "Sample set"),
    "smp.col.window": ("观察期", "Window"),
    "smp.col.n_total": ("样本数", "Enterprises"),
    "smp.col.n_positive": ("正样本", "Positives"),
    "smp.col.rate": ("正样本率", "Positive rate"),
    "smp.col.label": ("标签定义", "Label definition"),
    "smp.col.runs": ("已对齐企业数（最近一次实验）", "Aligned enterprises (last run)"),
    "smp.col.id": ("编号", "ID"),
    "smp.hist": ("样本构成（正/负样本数）", "Composition (positives / negatives)"),
    "smp.col.source": ("统计来源", "Counted by"),
    "smp.source.bank": ("银行端统计 {at}", "counted at the bank {at}"),
    "smp.source.declared": ("银行自报（未核实）", "declared by the bank (unverified)"),
    "smp.source.none": ("未计数", "not counted"),
    "smp.not_counted": ("未计数", "not counted"),
    "smp.col.version": ("版本", "Version"),
    "smp.none_note": (
        "该样本集（此版本）尚未在银行端统计：下方「在银行端统计」后显示其数字。",
        "This sample set (this version) is not counted yet: count it at the bank below.",
    ),
    "smp.count": ("在银行端统计", "Count at the bank"),
    "smp.count_help": (
        "统计在本行节点上运行：读取本行数据与 ID 清单，只返回汇总数"
        "（每格至少 k 家企业）。需要有 worker 在运行（fedlab lab worker）。",
        "The count runs at your bank's node: it reads your bank's table and the "
        "ID list there and returns aggregates only (at least k enterprises per "
        "cell). A worker must be running (fedlab lab worker).",
    ),
    "smp.count_sample": ("样本集", "Sample set"),
    "smp.count_columns": ("直方图字段（数值型）", "Histogram columns (numeric)"),
    "smp.count_button": ("在银行端统计", "Count at the bank"),
    "smp.count_requested": (
        "已提交银行端统计请求（编号 {id}），worker 将在本行节点上统计。",
        "Count {id} requested; the worker counts it at your bank's node.",
    ),
    "smp.refresh": ("刷新", "Refresh"),
    "smp.count_status": (
        "最近一次统计：{status}（{who}，{at}）",
        "Latest count: {status} ({who}, {at})",
    ),
    "smp.count_failed": ("统计失败：{reason}", "The count failed: {reason}"),
    "smp.status.requested": ("等待中", "waiting"),
    "smp.status.running": ("统计中", "counting"),
    "smp.status.succeeded": ("已完成", "done"),
    "smp.status.failed": ("失败", "failed"),
    "smp.profile": ("银行端统计结果", "Counted at the bank"),
    "smp.profile_meta": (
        "{at} 由 {who} 发起；银行端最小单元 k = {k}；{window}",
        "requested by {who}, counted {at}; the bank's minimum cell k = {k}; {window}",
    ),
    "smp.window_applied": ("已按观察期筛选", "observation window applied"),
    "smp.window_not_applied": (
        "ID 清单与数据均无观察日期，未按观察期筛选",
        "no observation date in the ID list or the table: window not applied",
    ),
    "smp.declared_note": (
        "该样本集的数字为银行自报，未在银行端统计。",
        "This sample set's counts are declared by the bank, not counted at the bank.",
    ),
    "smp.m.total": ("样本数", "Enterprises"),
    "smp.m.positive": ("正样本", "Positives"),
    "smp.m.rate": ("正样本率", "Positive rate"),
    "smp.m.excluded": (
        "未计入（不在本行数据或观察期外）",
        "Not counted (not a customer or outside the window)",
    ),
    "smp.hist.month": ("按观察月份", "By month of observation"),
    "smp.hist.column": ("按 {column} 分箱", "By {column} bins"),
    "smp.hist.bin": ("分箱", "Bin"),
    "smp.hist.month_x": ("观察月份", "month of observation"),
    "smp.readonly": (
        "平台人员只读查看全部样本集元数据。",
        "Platform staff see every bank's sample metadata, read-only.",
    ),
    # algorithms
    "alg.params": ("参数", "Parameters"),
    "alg.validate": ("校验参数", "Validate parameters"),
    "alg.valid": ("参数有效：", "Parameters are valid:"),
    "alg.col.param": ("参数", "Parameter"),
    "alg.col.type": ("类型", "Type"),
    "alg.col.default": ("默认值", "Default"),
    "alg.col.range": ("范围 / 可选值", "Range / choices"),
    # experiments
    "exp.list": ("实验列表", "Experiments"),
    "exp.create": ("新建实验", "New experiment"),
    "exp.name": ("实验名称", "Experiment name"),
    "exp.sample": ("样本集", "Sample set"),
    "exp.algorithm": ("算法", "Algorithm"),
    "exp.backend": ("加密方式", "Encryption"),
    "exp.indicators": ("指标", "Indicators"),
    "exp.indicators_help": (
        "默认选中本行指标和已授权的数据源指标。",
        "Defaults: your bank's indicators and those with consent granted.",
    ),
    "exp.save_draft": ("保存草稿", "Save draft"),
    "exp.create_submit": ("创建并提交", "Create and submit"),
    "exp.created": ("实验 {id} 已创建，状态：{status}", "Experiment {id} created: {status}"),
    "exp.detail": ("实验详情", "Experiment details"),
    "exp.pick": ("选择实验", "Pick an experiment"),
    "exp.status": ("状态", "Status"),
    "exp.submit": ("提交审批", "Submit for approval"),
    "exp.cancel": ("取消实验", "Cancel experiment"),
    "exp.revise": ("退回草稿修改", "Back to draft"),
    "exp.progress": ("训练进度（每轮损失）", "Progress (loss per epoch)"),
    "exp.loss": ("损失", "loss"),
    "exp.epoch": ("轮次", "epoch"),
    "exp.loss_pending": (
        "已完成 {n} 轮。每轮损失在确认其计算所用企业数不少于 {k} 家后显示。",
        "{n} epochs done. The loss per epoch is shown once the number of "
        "enterprises it is computed on is known to be at least {k}.",
    ),
    "exp.loss_suppressed": (
        "每轮损失基于不足 {k} 家企业计算，已抑制（共 {n} 轮）。",
        "The loss per epoch is computed on fewer than {k} enterprises: suppressed ({n} epochs).",
    ),
    "exp.log": ("流转日志", "Log"),
    "exp.consents": ("数据源授权", "Agency consents"),
    "exp.failure": ("失败原因：{reason}", "Failure: {reason}"),
    "exp.model_ready": ("模型已入库：{name} v{version}", "Model filed: {name} v{version}"),
    "exp.auto": ("自动刷新", "Auto refresh"),
    "exp.col.id": ("编号", "ID"),
    "exp.col.name": ("名称", "Name"),
    "exp.col.status": ("状态", "Status"),
    "exp.col.algorithm": ("算法", "Algorithm"),
    "exp.col.bank": ("银行", "Bank"),
    "exp.col.updated": ("更新时间", "Updated"),
    "exp.col.from": ("从", "From"),
    "exp.col.to": ("到", "To"),
    "exp.col.actor": ("操作人", "By"),
    "exp.col.at": ("时间", "At"),
    "exp.col.reason": ("原因", "Reason"),
    "status.draft": ("草稿", "draft"),
    "status.submitted": ("已提交", "submitted"),
    "status.approved": ("已批准", "approved"),
    "status.rejected": ("已驳回", "rejected"),
    "status.queued": ("排队中", "queued"),
    "status.running": ("运行中", "running"),
    "status.succeeded": ("已完成", "succeeded"),
    "status.failed": ("失败", "failed"),
    "status.cancelled": ("已取消", "cancelled"),
    # models
    "mdl.list": ("模型版本", "Model versions"),
    "mdl.pick": ("选择模型版本", "Pick a model version"),
    "mdl.roc": ("ROC 曲线", "ROC curve"),
    "mdl.ks": ("KS 曲线", "KS curve"),
    "mdl.lift": ("提升度", "Lift"),
    "mdl.scores": ("评分分布", "Score distribution"),
    "mdl.no_curve": (
        "该模型没有可展示的曲线（算法未上报 ROC 点，或评估样本不足 {k} 家企业）。",
        "No curve to show (the algorithm reported no ROC points, or fewer than {k} "
        "enterprises were evaluated).",
    ),
    "mdl.scorecard": ("本行评分卡分值", "Your bank's scorecard points"),
    "mdl.no_scorecard": (
        "该模型没有本行评分卡分值。",
        "This model has no scorecard points of your bank.",
    ),
    "mdl.grades_dev": ("等级分布（开发样本：全部对齐企业）", "Grades on the development sample"),
    "mdl.grades_valid": ("等级分布（验证集）", "Grades on the validation rows"),
    "mdl.gr.grade": ("等级", "Grade"),
    "mdl.gr.scores": ("分数区间", "Score range"),
    "mdl.gr.count": ("企业数", "Enterprises"),
    "mdl.gr.share": ("占比", "Share"),
    "mdl.gr.bad_rate": ("违约率", "Bad rate"),
    "mdl.lineage": ("血缘", "Lineage"),
    "mdl.publish": ("发布", "Publish"),
    "mdl.retire": ("下线", "Retire"),
    "mdl.compare": ("对比两个版本", "Compare two versions"),
    "mdl.compare_with": ("对比版本", "Compare with"),
    "mdl.col.model": ("模型", "Model"),
    "mdl.col.version": ("版本", "Version"),
    "mdl.col.status": ("状态", "Status"),
    "mdl.col.algorithm": ("算法", "Algorithm"),
    "mdl.col.created": ("创建时间", "Created"),
    "mdl.metric": ("指标", "Metric"),
    "mdl.pt.column": ("字段", "Column"),
    "mdl.pt.bin": ("分箱", "Bin"),
    "mdl.pt.points": ("分值", "Points"),
    "mdl.pt.base": ("（基础分）", "(base)"),
    "metric.auc": ("AUC", "AUC"),
    "metric.ks": ("KS", "KS"),
    "metric.n_aligned": ("对齐企业数", "aligned enterprises"),
    "metric.n_train": ("训练集企业数", "training enterprises"),
    "metric.n_valid": ("验证集企业数", "validation enterprises"),
    "metric.epochs": ("训练轮数", "epochs"),
    "metric.backend": ("加密方式", "encryption"),
    "model.candidate": ("候选", "candidate"),
    "model.published": ("已发布", "published"),
    "model.retired": ("已下线", "retired"),
    # approvals
    "apr.pending": ("待审批实验", "Experiments waiting for approval"),
    "apr.review": ("审阅", "Review"),
    "apr.disclosure": (
        "披露摘要：各参与方会得知什么",
        "Disclosure summary: what each party learns",
    ),
    "apr.approve": ("批准", "Approve"),
    "apr.reject": ("驳回", "Reject"),
    "apr.reason_required": ("驳回必须填写原因。", "A rejection needs a reason."),
    "apr.decided": ("实验 {id}：{status}", "Experiment {id}: {status}"),
    "apr.recent": ("最近的决定", "Recent decisions"),
    "apr.params": ("参数", "Parameters"),
    "apr.party": ("参与方", "Party"),
    "apr.role": ("角色", "Role"),
    "apr.sends": ("发出", "Sends"),
    "apr.learns": ("得知", "Learns"),
    "party_role.guest": ("发起方（持标签）", "guest (holds the labels)"),
    "party_role.host": ("数据提供方", "host"),
    "party_role.coordinator": ("协调方", "coordinator"),
    # consent
    "cst.requests": ("待处理的使用请求", "Requests for your indicators"),
    "cst.grant": ("授予同意", "Grant consent"),
    "cst.bank": ("银行", "Bank"),
    "cst.purpose": ("用途", "Purpose"),
    "cst.days": ("有效天数", "Valid for (days)"),
    "cst.grant_button": ("授予", "Grant"),
    "cst.granted": ("已授予同意 {id}。", "Consent {id} granted."),
    "cst.grants": ("本单位的同意记录", "Your agency's grants"),
    "cst.revoke": ("撤销", "Revoke"),
    "cst.revoked": ("已撤销同意 {id}。", "Consent {id} revoked."),
    "cst.col.id": ("编号", "ID"),
    "cst.col.bank": ("银行", "Bank"),
    "cst.col.indicators": ("指标", "Indicators"),
    "cst.col.expires": ("到期", "Expires"),
    "cst.col.state": ("状态", "State"),
    # audit
    "aud.verify": ("校验哈希链", "Verify the hash chain"),
    "aud.ok": ("哈希链完整：{n} 条事件。", "Chain intact: {n} events."),
    "aud.broken": ("哈希链被篡改：{msg}", "Chain broken: {msg}"),
    "aud.object_type": ("对象类型", "Object type"),
    "aud.limit": ("显示条数", "Events shown"),
    "aud.col.seq": ("序号", "Seq"),
    "aud.col.at": ("时间", "At"),
    "aud.col.actor": ("操作人", "Actor"),
    "aud.col.action": ("动作", "Action"),
    "aud.col.object": ("对象", "Object"),
    "aud.col.details": ("详情", "Details"),
    "aud.col.hash": ("哈希", "Hash"),
    # plots (axis titles, legends)
    "plot.chance": ("随机猜测", "chance"),
    "plot.fpr": ("假阳性率（FPR）", "false positive rate (FPR)"),
    "plot.tpr": ("真阳性率（TPR）", "true positive rate (TPR)"),
    "plot.cum_pos": ("累计正样本占比（TPR）", "cum. positives (TPR)"),
    "plot.cum_neg": ("累计负样本占比（FPR）", "cum. negatives (FPR)"),
    "plot.ks_gap": ("TPR − FPR（KS {ks:.3f}）", "TPR − FPR (KS {ks:.3f})"),
    "plot.depth": ("企业占比（按评分从高到低）", "share of enterprises, highest scores first"),
    "plot.cum_share": ("累计占比", "cumulative share"),
    "plot.lift": ("累计提升度", "cumulative lift"),
    "plot.lift_x": ("评分最高的企业占比", "top share of enterprises by score"),
    "plot.lift_y": ("提升度", "lift"),
    "plot.band": ("评分段 {i}", "band {i}"),
    "plot.band_x": (
        "评分段（从高分到低分，每段至少 k 家企业）",
        "score band (highest scores first, each ≥ k enterprises)",
    ),
    "plot.enterprises": ("企业数", "enterprises"),
    "plot.positives": ("正样本", "positives"),
    "plot.enterprises_split_suppressed": (
        "企业数（正负拆分已抑制）",
        "enterprises (split suppressed)",
    ),
    "plot.negatives": ("负样本", "negatives"),
}


def tr(key: str, lang: str = DEFAULT_LANG, **fmt: Any) -> str:
    """The string for ``key`` in ``lang`` ('zh' or 'en'), formatted with ``fmt``."""
    pair = STRINGS.get(key)
    if pair is None:
        return key
    text = pair[1] if lang == "en" else pair[0]
    return text.format(**fmt) if fmt else text


def current_lang() -> str:
    import streamlit as st

    return str(st.session_state.get("lang", DEFAULT_LANG))


def t(key: str, **fmt: Any) -> str:
    """``tr`` in the session's language."""
    return tr(key, current_lang(), **fmt)


__all__ = ["DEFAULT_LANG", "LANGS", "STRINGS", "current_lang", "t", "tr"]
