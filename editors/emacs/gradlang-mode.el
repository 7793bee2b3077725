;;; gradlang-mode.el --- Major mode for gradlang tensor programs -*- lexical-binding: t; -*-

;; Copyright (C) the gradlang authors
;; SPDX-License-Identifier: MIT OR Apache-2.0
;; Version: 0.1.0
;; Package-Requires: ((emacs "27.1"))
;; Keywords: languages

;;; Commentary:

;; Editing `.grad' files (gradlang: tensor programs and their derivatives):
;; `#' comments, highlighting of keywords, dimensions in shapes, layers,
;; instances, built-in functions and options, indentation of layer bodies and
;; bracketed lists by two spaces, and the language server `gradlang lsp'
;; registered with eglot (built into Emacs 29; a package for Emacs 27-28).
;;
;;   (add-to-list 'load-path "/path/to/gradlang/editors/emacs")
;;   (require 'gradlang-mode)
;;   (add-hook 'gradlang-mode-hook #'eglot-ensure)   ; diagnostics, hover, ...

;;; Code:

(defgroup gradlang nil
  "Editing gradlang tensor programs."
  :group 'languages
  :prefix "gradlang-")

(defcustom gradlang-indent-offset 2
  "Indentation of a layer body or a bracketed list, in columns."
  :type 'integer
  :safe #'integerp)

(defcustom gradlang-server-command '("gradlang" "lsp")
  "The language server command that eglot runs for gradlang buffers."
  :type '(repeat string))

(defconst gradlang--builtins
  '("exp" "log" "sqrt" "tanh" "sigmoid" "relu" "abs" "sign" "sin" "cos" "neg"
    "maximum" "minimum" "sum" "mean" "max" "min" "transpose" "reshape"
    "softmax" "log_softmax" "logsumexp" "cross_entropy" "mse" "one_hot"
    "tensordot" "zeros" "ones" "softplus" "log1p" "expm1" "erf" "silu"
    "floor" "ceil" "round" "gelu" "leaky_relu" "elu" "clip" "where" "float"
    "var" "std" "norm" "argmax" "argmin" "accuracy" "concat" "stack" "take"
    "gather" "tril" "triu" "arange" "eye" "flatten" "conv1d" "conv2d"
    "max_pool2d" "avg_pool2d" "dropout" "close" "normal" "uniform"
    "sgd" "adam" "adamw" "constant" "step" "cosine" "warmup_cosine" "linear")
  "Built-in functions, initializers, optimizers and schedules (SPEC 4, 5, 11).")

(defconst gradlang--name "[A-Za-z_][A-Za-z0-9_]*")

(defvar gradlang-mode-syntax-table
  (let ((table (make-syntax-table)))
    (modify-syntax-entry ?# "<" table)
    (modify-syntax-entry ?\n ">" table)
    (modify-syntax-entry ?_ "_" table)
    (modify-syntax-entry ?\' "." table)
    (modify-syntax-entry ?\" "." table)
    (dolist (c '(?+ ?- ?* ?/ ?@ ?< ?> ?= ?! ?: ?\; ?, ?.))
      (modify-syntax-entry c "." table))
    table)
  "Syntax table for `gradlang-mode': `#' comments, brackets.")

(defun gradlang--match-shape-dimension (limit)
  "Find the next name inside a shape (after `:' or `->') before LIMIT."
  (let (found)
    (while (and (not found)
                (re-search-forward (concat "\\_<" gradlang--name "\\_>") limit t))
      (let ((open (save-excursion
                    (save-match-data (nth 1 (syntax-ppss (match-beginning 0)))))))
        (when (and open (eq (char-after open) ?\[)
                   (save-excursion
                     (save-match-data
                     (goto-char open)
                     (skip-chars-backward " \t")
                     (or (eq (char-before) ?:)
                         (and (eq (char-before) ?>) (eq (char-before (1- (point))) ?-))
                         ;; layer Dense[I, O] and instance Dense[D, 512]
                         (save-excursion
                           (and (re-search-backward
                                 (concat "\\(?:\\_<layer\\s-+\\|=\\s-*\\)"
                                         gradlang--name "\\=")
                                 (line-beginning-position) t)))))))
          ;; Dense[I=512, ...]: `I' names a parameter, not a dimension.
          (unless (save-match-data (looking-at "\\s-*=[^=]"))
            (setq found t)))))
    found))

(defvar gradlang-font-lock-keywords
  `((,(regexp-opt '("dim" "input" "param" "loss" "layer") 'symbols)
     . font-lock-keyword-face)
    (,(regexp-opt '("return" "assert") 'symbols) . font-lock-keyword-face)
    ;; `metric' and `train' begin statements but are still names: `train = ..'.
    (,(concat "^\\s-*\\(metric\\)\\s-+" gradlang--name "\\s-*=[^=]")
     1 font-lock-keyword-face)
    ("^\\s-*\\(train\\)\\s-*(" 1 font-lock-keyword-face)
    (,(regexp-opt '("int" "bool") 'symbols) . font-lock-type-face)
    (,(regexp-opt '("true" "false" "pi" "inf") 'symbols) . font-lock-constant-face)
    (,(concat "\\_<layer\\s-+\\(" gradlang--name "\\)") 1 font-lock-type-face)
    ;; An instance: fc1 = Dense[D, 512]
    (,(concat "^\\s-*\\(" gradlang--name "\\)\\s-*=\\s-*\\(" gradlang--name
              "\\)\\s-*\\[[^]]*\\]\\s-*\\(?:#.*\\)?$")
     (1 font-lock-variable-name-face) (2 font-lock-type-face))
    (,(concat "\\_<\\(?:dim\\|input\\|param\\|loss\\|metric\\)\\s-+\\("
              gradlang--name "\\)")
     1 font-lock-variable-name-face)
    (,(concat "\\_<dim\\_>.*?,\\s-*\\(" gradlang--name "\\)") 1 font-lock-variable-name-face)
    (,(concat "^\\s-*\\(" gradlang--name "\\)\\s-*=[^=]") 1 font-lock-variable-name-face)
    (gradlang--match-shape-dimension 0 font-lock-type-face)
    (,(regexp-opt '("grad" "jacobian" "vjp" "jvp" "hessian") 'symbols)
     . font-lock-builtin-face)
    (,(regexp-opt gradlang--builtins 'symbols) . font-lock-builtin-face)
    ;; .T and .mT transpose; other members are instance parameters (fc1.W).
    ("\\.\\(m?T\\)\\_>" 1 font-lock-builtin-face)
    (,(concat "\\_<\\(" gradlang--name "\\)\\s-*(") 1 font-lock-function-name-face)
    ;; Options: axis=0, padding=same
    (,(concat "[(,]\\s-*\\(" gradlang--name "\\)\\s-*=[^=]") 1 font-lock-preprocessor-face)
    (,(regexp-opt '("same" "valid") 'symbols) . font-lock-constant-face)
    ("\\_<[0-9]+\\(?:\\.[0-9]*\\)?\\(?:[eE][-+]?[0-9]+\\)?\\_>" . font-lock-constant-face))
  "Highlighting for `gradlang-mode'.")

(defun gradlang-indent-line ()
  "Indent the current line: `gradlang-indent-offset' per open bracket."
  (interactive)
  (let* ((depth (save-excursion
                  (back-to-indentation)
                  (let ((ppss (syntax-ppss)))
                    (if (nth 4 ppss) 0 (car ppss)))))
         (closing (save-excursion
                    (back-to-indentation)
                    (looking-at "[])}]")))
         (column (* gradlang-indent-offset (max 0 (if closing (1- depth) depth))))
         (offset (- (current-column) (current-indentation))))
    (indent-line-to column)
    (when (> offset 0) (move-to-column (+ column offset)))))

;;;###autoload
(define-derived-mode gradlang-mode prog-mode "gradlang"
  "Major mode for gradlang tensor programs (`.grad' files)."
  :syntax-table gradlang-mode-syntax-table
  (setq-local comment-start "# ")
  (setq-local comment-start-skip "#+\\s-*")
  (setq-local comment-end "")
  (setq-local indent-line-function #'gradlang-indent-line)
  (setq-local indent-tabs-mode nil)
  (setq-local electric-indent-chars (append "])}" electric-indent-chars))
  (setq-local font-lock-defaults '(gradlang-font-lock-keywords)))

;;;###autoload
(add-to-list 'auto-mode-alist '("\\.grad\\'" . gradlang-mode))

(with-eval-after-load 'eglot
  (defvar eglot-server-programs)
  (add-to-list 'eglot-server-programs
               `(gradlang-mode . ,gradlang-server-command)))

(provide 'gradlang-mode)

;;; gradlang-mode.el ends here
