"""Japanese names of audit actions and outcomes, for the log viewer and its reports.

Other modules add their own action codes through `audit.record`; a code missing here is shown
as it is (never hidden), so adding a label is a one-line edit.
"""
from __future__ import annotations

ACTION_LABELS: dict[str, str] = {
    # sign-in and sessions
    "login.ok": "ログイン",
    "login.failed": "ログイン失敗",
    "session.lock": "画面ロック",
    "session.unlock": "ロック解除",
    "session.end": "ログオフ",
    "session.end_all": "セッションの一括終了",
    "access.denied": "権限のない操作（拒否）",
    # staff administration
    "staff.create": "職員の登録",
    "staff.enroll": "職員の利用登録（認証器）",
    "staff.enroll_link": "利用登録リンクの発行",
    "staff.update": "職員情報の変更",
    "staff.roles": "役割の変更",
    "staff.retire": "職員の退職処理",
    "staff.unlock": "アカウントロックの解除",
    "credential.add": "認証器の追加",
    "credential.revoke": "認証器の失効",
    "credential.reauth": "認証器の再登録",
    "staff.reset": "職員の再登録リンク発行",
    # residents and screenings
    "resident.search": "対象者の検索",
    "resident.print": "個人票の印刷",
    "resident.update": "住民情報の更新",
    "screening.record": "検診結果の登録",
    "resident.view": "対象者の閲覧",
    "resident.lookup": "宛名番号による対象者の確認",
    "resident.change": "対象者情報の変更",
    "resident.outside_programme": "事業の対象外の方への記録（係長の判断）",
    "screening.view": "検診結果の閲覧",
    "screening.create": "検診結果の入力",
    "screening.correct": "検診結果の訂正",
    "screening.void": "検診結果の取消",
    "screening.verify": "検診結果の確認入力（ベリファイ）",
    "screening.difference": "確認入力の相違の解決",
    "catalogue.extension_on": "評価書の範囲外の項目の有効化（評価書の修正を記録）",
    "catalogue.extension_off": "評価書の範囲外の項目の無効化",
    "queue.view": "突合待ちの表示",
    "queue.assign": "突合待ちの対象者への割当て",
    "queue.park": "突合待ちの保留",
    "queue.resolve": "突合待ちの解決",
    "queue.reject": "突合待ちの却下",
    "inquiry.list": "問合せ記録の一覧",
    "inquiry.view": "問合せ記録の表示",
    "inquiry.create": "問合せの受付",
    "inquiry.entry": "問合せの対応記録",
    "inquiry.update": "問合せの対応記録",
    "inquiry.close": "問合せの完了",
    "inquiry.print": "問合せ記録票の印刷",
    "inquiry.export": "問合せ記録のファイル出力",
    "disclosure.list": "開示等請求の一覧",
    "disclosure.view": "開示等請求の表示",
    "disclosure.create": "開示等請求の受付",
    "disclosure.extend": "開示等請求の期限延長",
    "disclosure.decide": "開示等請求の決定",
    "disclosure.correct": "開示等請求による訂正",
    "disclosure.document": "開示等請求の文書作成",
    "disclosure.export": "開示等請求のファイル出力",
    # provision through the intermediate server (kenshin.provision)
    "import.permitted": "照会許可用照合リストの取込",
    "provision.query": "中間サーバーからの照会",
    "provision.answer": "情報提供（自動応答）",
    "provision.hold": "情報提供の保留（自動応答不可）",
    "provision.approve": "情報提供の承認",
    "provision.decline": "情報提供の却下",
    "provision.deliver": "情報提供（回答の送信）",
    "provision.refuse": "情報提供の拒否",
    "provision.unknown": "照会（該当者なし）",
    "provision.conflict": "照会番号の重複",
    "provision.invalid": "読めない照会",
    "provision.unauthenticated": "認証できない照会（拒否）",
    "provision.view": "情報提供内容の閲覧",
    "provision.search": "提供記録の検索",
    "provision.setting": "自動応答不可の設定変更",
    "institution.create": "協力医療機関の登録",
    "institution.activate": "協力医療機関の参加再開",
    "institution.deactivate": "協力医療機関の参加終了",
    # screening rules and invitations
    "rules.change": "対象者の条件（検診ルール）の変更",
    "invitations.extract": "受診券の抽出",
    "invitations.remind": "再勧奨の抽出",
    "invitations.preview": "受診券の抽出件数の確認",
    "invitations.export": "受診券の委託先ファイル出力",
    "invitations.print": "受診券・宛名ラベルの印刷",
    "invitations.exclude": "受診券の送付除外の記録",
    "invitations.exclude_end": "受診券の送付除外の終了",
    # files
    "print": "印刷",
    # follow-up and statistics
    "followup.list": "精検管理の一覧の閲覧",
    "followup.reminder_run": "受診勧奨・精検結果連絡票の印刷",
    "report.screenings": "検診統計ファイルの作成",
    "statistics.view": "検診統計・プロセス指標の閲覧",
    "statistics.drill_down": "統計の内訳（対象者）の閲覧",
    "statistics.settings": "許容値・目標値等の設定変更",
    "export": "ファイル出力",
    "import.residents": "住民記録連携ファイルの取込",
    "import.institutions": "協力医療機関ファイルの取込",
    "import.results": "検診結果ファイルの取込",
    "import.upload": "取込ファイルの受付（確認の前）",
    "import.residents.preview": "住民記録連携ファイルの確認（取込前）",
    "import.results.preview": "検診結果ファイルの確認（取込前）",
    "import.fhir": "検診結果（FHIR）の取込",
    "import.fhir.preview": "検診結果（FHIR）の確認（取込前）",
    "fhir.export": "受診歴のFHIR出力（本人開示・転出先）",
    "demo.generate": "デモデータの作成",
    # the audit log itself and its reviews
    "audit.view": "監査ログの閲覧",
    "audit.export": "監査ログのファイル出力",
    "audit.print": "監査ログの印刷",
    "audit.person_report": "アクセス記録（本人開示用）の作成",
    "audit.heads": "日次ハッシュの閲覧",
    "audit.unusual_review": "不審なアクセスの確認",
    "logon_review.view": "長時間ログオンの確認",
    "logon_review.notice": "長時間ログオンの通知",
    "logon_review.answer": "長時間ログオン通知への回答の記録",
    "login.denied": "ログインの拒否（研修受講期限切れ）",
    # operations (kenshin.operations)
    "operations.backup": "バックアップの作成",
    "operations.purge": "保存期間経過データの消去",
    "incident.view": "漏えい等調査の表示",
    "incident.print": "漏えい等調査の印刷",
    "incident.export": "漏えい等調査のファイル出力",
    "training.record": "研修受講の記録",
    "training.setting": "研修未受講者のログイン設定の変更",
}

OUTCOME_LABELS: dict[str, str] = {
    "ok": "成功",
    "failed": "失敗",
    "denied": "拒否",
    "accepted": "受理",
    "rejected": "不受理",
    "error": "エラー",
    "not_found": "該当なし",
}

DETAIL_LABELS: dict[str, str] = {
    "why": "理由",
    "factor": "認証要素",
    "failures": "連続失敗回数",
    "staff": "職員",
    "sessions": "セッション数",
    "count": "件数",
    "from": "期間（開始）",
    "to": "期間（終了）",
    "report": "帳票",
    "page": "ページ",
    "file_name": "ファイル名",
    "sha256": "SHA-256",
    "fiscal_year": "年度",
    "as_of": "基準日",
    "version": "版",
    "rules_version": "対象者の条件の版",
    "invitations": "件数",
    "people": "人数",
    "stopped": "送付停止",
    "suspended": "利用停止で除外",
    "excluded": "職員の記録で除外",
    "issued_by": "リンクの発行者",
    "same_terminal_as_issuer": "発行者と同じ端末",
    "opened_in_session_of": "リンクを開いたブラウザのセッション",
    "criteria": "条件",
    "hits": "該当件数",
    "file_alone": "ファイル単体の確認",
}


def action_label(code: str) -> str:
    """The Japanese name of an action, or the code itself when it has none."""
    return ACTION_LABELS.get(code, code)


def outcome_label(code: str) -> str:
    return OUTCOME_LABELS.get(code, code)


def detail_label(key: str) -> str:
    return DETAIL_LABELS.get(key, key)
